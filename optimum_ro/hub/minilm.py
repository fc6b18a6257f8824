"""placeholder, filled in next"""
L6_NAME = "all-MiniLM-L6-v2"
L3_NAME = "paraphrase-MiniLM-L3-v2"
L6_WHEELS = ()
L3_WHEELS = ()
def build_minilm_l6(wheels, folder):
    raise NotImplementedError
build_minilm_l3 = build_minilm_l6
