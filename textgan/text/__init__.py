"""textgan.text: corpora and tokenisation, the synthetic oracle, text generators and discriminators
(``name as name`` = public re-export)."""

from textgan.text.corpus import Corpus as Corpus
from textgan.text.corpus import EncodeStats as EncodeStats
from textgan.text.corpus import encode_corpus as encode_corpus
from textgan.text.corpus import load_hf_corpus as load_hf_corpus
from textgan.text.corpus import read_id_file as read_id_file
from textgan.text.corpus import read_lines as read_lines
from textgan.text.corpus import text_corpus as text_corpus
from textgan.text.oracle import Oracle as Oracle
from textgan.text.oracle import make_oracle_dataset as make_oracle_dataset
from textgan.text.tokenize import BOS as BOS
from textgan.text.tokenize import EOS as EOS
from textgan.text.tokenize import PAD as PAD
from textgan.text.tokenize import SPECIALS as SPECIALS
from textgan.text.tokenize import UNK as UNK
from textgan.text.tokenize import SubwordTokenizer as SubwordTokenizer
from textgan.text.tokenize import Tokenizer as Tokenizer
from textgan.text.tokenize import Vocabulary as Vocabulary
from textgan.text.tokenize import WhitespaceTokenizer as WhitespaceTokenizer
from textgan.text.tokenize import WordTokenizer as WordTokenizer
from textgan.text.tokenize import build_tokenizer as build_tokenizer
from textgan.text.tokenize import load_tokenizer as load_tokenizer
