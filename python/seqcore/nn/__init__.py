"""Recurrent layers with explicit forward and backward passes, NumPy in and out."""

from ._embedding import Embedding
from ._layers import GRU, LSTM, RNN
from ._linear import Linear
from ._network import SequenceNetwork
from ._optim import SGD, Adam, ExponentialLR, clip_grad_norm, clip_grad_value

__all__ = ["RNN", "GRU", "LSTM", "Embedding", "Linear", "SequenceNetwork",
           "clip_grad_norm", "clip_grad_value", "SGD", "Adam", "ExponentialLR"]
