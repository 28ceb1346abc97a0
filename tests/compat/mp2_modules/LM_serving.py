"""Stand-in for the Django app's `LM_serving` module: a language model we do not have.

The original sent pinyin ids to a TensorFlow Serving language model and joined the predicted
characters. This stand-in looks each pinyin up in a small fixed lexicon and joins the
characters; a pinyin outside the lexicon is an error, as it was for the original's vocabulary.
"""
from modulespack.compat import InputDesc, Module, ModuleDesc, OutputDesc

LEXICON = {'ni3': '你', 'hao3': '好', 'shi4': '世', 'jie4': '界', 'ma5': '吗'}


class LM_serving(Module):

    @staticmethod
    def make_module_description():
        inputdesc = {'PinYin': InputDesc(datatype='list', datashape=(None,))}
        outputdesc = {'HanZi': OutputDesc(datatype='string', datashape=(None,))}
        return ModuleDesc(inputdesc, outputdesc)

    @staticmethod
    def run(inputs):
        unknown = [p for p in inputs['PinYin'] if p not in LEXICON]
        if unknown:
            raise ValueError(f'pinyin not in the vocabulary: {unknown}')
        return {'HanZi': ''.join(LEXICON[p] for p in inputs['PinYin'])}
