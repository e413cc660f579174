"""Text for sequence models.

* ``SequenceTokenizer``: turns documents (characters, words or a callable's
  tokens) into sequences of integer token ids, 0 padding and 1 unknown, for
  ``seqcore.nn.Embedding`` and the estimators' ``embedding_dim`` mode, and
  ids back into text.
* ``RNNLanguageModel``: learns to predict the next token of a text; writes
  new text (``sample``, with a temperature and top-k) and scores text
  (``perplexity``).  ``seqcore generate`` runs it from the shell.
* ``Seq2SeqTranslator``: an encoder-decoder with attention that writes one
  sequence from another of a different length (dates to ISO format,
  transliteration, short translations); ``predict_attention`` returns the
  attention weights of each output token.

Text classification and token tagging use ``seqcore.RNNClassifier`` with
``embedding_dim`` on the tokenizer's ids (``return_sequences=True`` tags
every token); the user guide's "Text" page works through each.
"""

from ._language_model import RNNLanguageModel
from ._tokenizer import SequenceTokenizer
from ._translator import Seq2SeqTranslator

__all__ = ["SequenceTokenizer", "RNNLanguageModel", "Seq2SeqTranslator"]
