"""Stand-in for the Django app's `Voice_Conversion` module.

As the original, it runs the graph django-_VC.json (Mfcc_Spec_Mel -> VC_serving -> Vocoder)
through a modulespack2 Session of its own, feeding the WAV file path to its start node
`mfcc_spec_mel`, and returns the converted audio (WAV file bytes, the last node's `audio_stream`).
"""
from _mp2_graphlib import InnerGraph
from modulespack.compat import InputDesc, Module, ModuleDesc, OutputDesc

vc_graph = InnerGraph('django-_VC')


class Voice_Conversion(Module):

    def __init__(self):
        vc_graph.build()

    @staticmethod
    def make_module_description():
        inputdesc = {'wav_file_path': InputDesc(datatype='string', datashape=(None,))}
        outputdesc = {'audio_bytes': OutputDesc(datatype='string', datashape=(None,))}
        return ModuleDesc(inputdesc, outputdesc)

    @staticmethod
    def run(inputs):
        result = vc_graph.run({'mfcc_spec_mel': {'wav_file': inputs['wav_file_path']}})
        return {'audio_bytes': result['audio_stream']}
