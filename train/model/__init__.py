"""The diffusion section transformer: config and presets, encoders, set denoiser, reader."""
from .backbones import ENCODERS
from .config import PRESETS, ModelConfig, model_config, model_config_errors
from .denoiser import Denoised
from .encoders import Features
from .network import SectionModel, count_parameters, unwrap
from .reader import Read

__all__ = ["PRESETS", "ModelConfig", "model_config", "model_config_errors", "Denoised", "ENCODERS", "Features",
           "SectionModel", "count_parameters", "unwrap", "Read"]
