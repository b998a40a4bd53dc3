"""Class vocabularies, palettes and words of the synthetic pages.

Two class kits (Bootstrap-like "bs" and Tailwind-like "tw") so the same section kinds
appear under both naming styles, as on real sites; colours and words are fixed tables so
a page is a pure function of its RNG.
"""
from __future__ import annotations

HREF = {"href": "#"}
WORDS = tuple("""
fast simple secure cloud team data build launch grow modern smart design product workflow
platform analytics insight scale reliable support custom easy powerful connect share create
manage plan track deliver growth market brand story studio digital creative vision focus
value trust quality service client partner project future simple open global local mobile
native instant realtime private premium starter business enterprise free trial update learn
explore discover start today better faster together every with your our the and for from
into more less time work life home office space light bright clear calm bold fresh""".split())
HEAD_SCALE = {"h1": 1.4, "h2": 1.05, "h3": 0.8, "h4": 0.68}
WHITE, BORDER, MUTED = (255, 255, 255), (222, 226, 230), (108, 117, 125)
PRIMARIES = ((13, 110, 253), (79, 70, 229), (25, 135, 84), (220, 53, 69), (253, 126, 20),
             (111, 66, 193), (214, 51, 132), (13, 148, 136))
PRIMARY_NAMES = ("blue", "indigo", "green", "red", "orange", "purple", "pink", "teal")  # PRIMARIES, in order
KIT = {
    "bs": dict(container="container", row="row", col="col-md-{n}", card="card", body="card-body",
               btn="btn btn-primary", lead="lead", head="", nav="navbar navbar-expand-lg",
               navul="navbar-nav", navli="nav-item", navlink="nav-link", brand="navbar-brand",
               group="form-group", input="form-control", table="table table-bordered",
               list="list-unstyled", pad="py-5", center="text-center"),
    "tw": dict(container="max-w-6xl mx-auto px-4", row="grid grid-cols-{n} gap-8", col="flex flex-col",
               card="rounded-lg border bg-white", body="p-6", btn="btn px-4 py-2 rounded text-white",
               lead="text-lg text-gray-600", head="font-bold", nav="flex items-center justify-between",
               navul="flex gap-6", navli="", navlink="text-sm", brand="logo text-xl font-bold",
               group="mb-4", input="w-full border rounded px-3 py-2", table="w-full border",
               list="space-y-2", pad="py-16", center="text-center"),
}
