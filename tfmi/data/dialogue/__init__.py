r"""Dialogues as past / future views: the data of Sordoni et al. (2021), Sec. 5.3 and App. B.

Four modules, one import (``tfmi.data.dialogue.NAME`` reaches every public name):

    corpora    Wizard of Wikipedia and the Chit Chat Challenge corpus: loading, cleaning,
               train / valid / test splits (``load_dialogues``)
    examples   past x, future y and subview x' token lists of each split point k, and the
               token layout (``make_examples``, ``dialogue_examples``)
    negatives  DEMI's sampled futures y ~ p(y | x'): formatting, the .npz file, alignment
               with the examples (``format_future``, ``load_negatives``, ``align_negatives``)
    pipeline   the tf.data stream of padded global batches and its contract
               (``dialogue_dataset``, ``dialogue_batches``)
"""

from tfmi.data.dialogue.corpora import (
    SOURCES,
    SPLITS,
    WOW_FILES,
    chitchat_path,
    clean_dialogues,
    load_chitchat,
    load_dialogues,
    load_wow,
    split_dialogues,
    split_indices,
)
from tfmi.data.dialogue.examples import (
    END_OF_TEXT_ID,
    ID_STRIDE,
    DialogueExamples,
    decode_example_id,
    dialogue_examples,
    example_id,
    examples_from_config,
    make_examples,
    split_points,
)
from tfmi.data.dialogue.negatives import align_negatives, format_future, load_negatives
from tfmi.data.dialogue.pipeline import PAD_ID, dialogue_batches, dialogue_dataset, dialogue_dataset_from_config

__all__ = [
    "END_OF_TEXT_ID",
    "PAD_ID",
    "ID_STRIDE",
    "WOW_FILES",
    "SOURCES",
    "SPLITS",
    "DialogueExamples",
    "load_wow",
    "load_chitchat",
    "chitchat_path",
    "clean_dialogues",
    "split_indices",
    "split_dialogues",
    "load_dialogues",
    "split_points",
    "example_id",
    "decode_example_id",
    "make_examples",
    "format_future",
    "load_negatives",
    "align_negatives",
    "dialogue_dataset",
    "dialogue_examples",
    "examples_from_config",
    "dialogue_batches",
    "dialogue_dataset_from_config",
]
