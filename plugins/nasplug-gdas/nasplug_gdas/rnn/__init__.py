"""GDAS recurrent-cell search (Sec. 4.3): the darts-rnn space, PTB-style data, and a search/train loop."""

from nasplug_gdas.rnn.data import Corpus, batchify, bundled_corpus_dir, load_corpus
from nasplug_gdas.rnn.search import RNNSearchResult, RNNTrainResult, perplexity, search_rnn, train_rnn
from nasplug_gdas.rnn.space import RNN_OPS, DartsRNNSpace, RNNGenotype

__all__ = ["Corpus", "batchify", "bundled_corpus_dir", "load_corpus", "RNNSearchResult", "RNNTrainResult",
           "perplexity", "search_rnn", "train_rnn", "RNN_OPS", "DartsRNNSpace", "RNNGenotype"]
