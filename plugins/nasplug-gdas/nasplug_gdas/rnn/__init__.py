"""GDAS recurrent-cell search (Sec. 4.3): the darts-rnn space, PTB-style data, and a search/train loop."""

from nasplug.lazy import lazy_exports

_EXPORTS = {
    **dict.fromkeys(("Corpus", "batchify", "bundled_corpus_dir", "load_corpus"), "nasplug_gdas.rnn.data"),
    **dict.fromkeys(("RNNSearchResult", "RNNTrainResult", "perplexity", "search_rnn", "train_rnn"),
                    "nasplug_gdas.rnn.search"),
    **dict.fromkeys(("RNN_OPS", "DartsRNNSpace", "RNNGenotype"), "nasplug_gdas.rnn.space"),
}
__getattr__ = lazy_exports(__name__, _EXPORTS)

__all__ = ["Corpus", "batchify", "bundled_corpus_dir", "load_corpus", "RNNSearchResult", "RNNTrainResult",
           "perplexity", "search_rnn", "train_rnn", "RNN_OPS", "DartsRNNSpace", "RNNGenotype"]
