"""The sparse BERT model files. They are copied flat into every saved checkpoint folder (remote code), so they
import only each other (relatively), torch and transformers; optimum-ro's kernels only inside ``try:``."""
