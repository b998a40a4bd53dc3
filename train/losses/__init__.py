"""The named training losses, one concept per module (each docstring gives its formula and
source), the set matcher they share, and the weightings that combine them. The registry of
which losses exist is train.objective.LOSSES."""
