"""Text for sequence models: ``SequenceTokenizer`` turns documents into
sequences of integer token ids (0 padding, 1 unknown) for
``seqcore.nn.Embedding`` and the estimators' ``embedding_dim`` mode;
``RNNLanguageModel`` learns to predict the next token of a text and writes
new text."""

from ._language_model import RNNLanguageModel
from ._tokenizer import SequenceTokenizer
from ._translator import Seq2SeqTranslator

__all__ = ["SequenceTokenizer", "RNNLanguageModel", "Seq2SeqTranslator"]
