"""Layers with explicit forward and backward passes, NumPy in and out.

Recurrent layers (``RNN``, ``GRU``, ``LSTM``, ``MGU``; what each kind is:
``CELLS``), ``Embedding``, ``Linear``, the ``SequenceNetwork`` the
estimators train, optimizers, learning-rate schedules, the head losses and
gradient clipping; the CTC loss and decoding (``ctc_loss``, ``ctc_decode``).
Every layer follows one
protocol (``_base.Layer``): inference reads the parameters only, and one
object is trained by one thread at a time.
"""

from ._attention import Attention
from ._cells import CELLS
from ._ctc import ctc_decode, ctc_loss, language_model_prior
from ._embedding import Embedding
from ._layers import GRU, LSTM, MGU, RNN
from ._linear import Linear
from ._network import SequenceNetwork
from ._quantized import QuantizedLayer
from ._seq2seq import Seq2Seq
from ._loss import (CTC, AbsoluteError, Distribution, Gaussian, Huber, Loss, NegativeBinomial,
                    Pinball, Poisson, SquaredError, StudentT)
from ._optim import SGD, Adam, AdamW, ExponentialLR, RMSprop, clip_grad_norm, clip_grad_value
from ._schedules import (ConstantSchedule, CosineSchedule, ExponentialSchedule,
                         PlateauSchedule, Schedule)

__all__ = ["RNN", "GRU", "LSTM", "MGU", "CELLS", "Embedding", "Linear", "SequenceNetwork",
           "clip_grad_norm", "clip_grad_value", "SGD", "Adam", "AdamW", "RMSprop",
           "ExponentialLR", "Schedule", "ConstantSchedule", "ExponentialSchedule",
           "CosineSchedule", "PlateauSchedule", "Loss", "SquaredError", "AbsoluteError",
           "Huber", "Poisson", "Pinball", "Distribution", "Gaussian", "StudentT",
           "NegativeBinomial", "CTC",
           "Attention", "Seq2Seq", "ctc_loss", "ctc_decode", "language_model_prior",
           "QuantizedLayer"]
