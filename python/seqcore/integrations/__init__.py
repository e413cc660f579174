"""Adapters that let other time-series frameworks use seqcore's models.

Each submodule needs its framework installed and is imported on its own
(nothing here is imported eagerly):

* ``seqcore.integrations.aeon``: aeon classifier and regressor
  (``pip install 'seqcore-rnn[aeon]'``);
* ``seqcore.integrations.sktime``: sktime estimators
  (``pip install 'seqcore-rnn[sktime]'``).
"""
