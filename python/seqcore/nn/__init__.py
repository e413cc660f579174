"""Recurrent layers with explicit forward and backward passes, NumPy in and out."""

from ._cells import CELLS
from ._layers import GRU, LSTM, MGU, RNN
from ._network import SequenceNetwork
from ._optim import SGD, Adam, ExponentialLR, clip_grad_norm, clip_grad_value

__all__ = ["RNN", "GRU", "LSTM", "MGU", "CELLS", "SequenceNetwork", "clip_grad_norm",
           "clip_grad_value", "SGD", "Adam", "ExponentialLR"]
