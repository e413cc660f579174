"""Recurrent layers with explicit forward and backward passes, NumPy in and out."""

from ._layers import GRU, LSTM, RNN

__all__ = ["RNN", "GRU", "LSTM"]
