"""Stand-in for the Django app's `Automatic_Speech_Recognition` module.

As the original, it runs the graph django-_ASR.json (Mfcc -> AM_serving -> LM_serving) through a
modulespack2 Session of its own, feeding the WAV file path to its start node `audio2mfcc`, and
returns the recognised text (the last node's `HanZi`). What the inner nodes do is described in
their own stand-ins.
"""
from _mp2_graphlib import InnerGraph
from modulespack.compat import InputDesc, Module, ModuleDesc, OutputDesc

asr_graph = InnerGraph('django-_ASR')


class Automatic_Speech_Recognition(Module):

    def __init__(self):
        asr_graph.build()

    @staticmethod
    def make_module_description():
        inputdesc = {'wav_file_path': InputDesc(datatype='string', datashape=(None,))}
        outputdesc = {'text': OutputDesc(datatype='string', datashape=(None,))}
        return ModuleDesc(inputdesc, outputdesc)

    @staticmethod
    def run(inputs):
        result = asr_graph.run({'audio2mfcc': {'wav_file': inputs['wav_file_path']}})
        return {'text': result['HanZi']}
