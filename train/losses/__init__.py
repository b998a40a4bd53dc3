"""The training losses, one concept per module; each module's docstring gives its formula
and source."""

from .element_combination import ElementCombinationLoss, info_nce, presence_logit
from .geometric import GeometricLoss, giou_loss
from .modality_aware import MODALITIES, ModalityAwareLossWeighting
from .multiscale import MultiScaleConsistencyLoss, rescale_images, symmetric_kl
from .multitask import TERM_MODALITY, DynamicWeightAverage, MultiTaskLoss, diversity_loss
from .region import region_loss
from .variance_aware import VarianceAwareLossScheduler

__all__ = [
    "ElementCombinationLoss", "GeometricLoss", "VarianceAwareLossScheduler",
    "ModalityAwareLossWeighting", "MultiScaleConsistencyLoss", "MultiTaskLoss",
    "DynamicWeightAverage", "info_nce", "presence_logit", "giou_loss", "rescale_images",
    "symmetric_kl", "diversity_loss", "region_loss", "MODALITIES", "TERM_MODALITY",
]
