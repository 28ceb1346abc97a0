"""Stand-in for the Django app's `ResponseHandler` module (API/ModuleLib/ResponseHandler.py).

Wraps a result as the original's RetDataDict, which the app returned as JSON:
``{'result': <text>, 'success': True}`` for return_type 'text', and for 'audio' the WAV bytes as
a ``data:audio/wav;base64,...`` URL. Any other return_type is an error (the original failed with
a NameError).
"""
from base64 import b64encode

from modulespack.compat import InputDesc, Module, ModuleDesc, OutputDesc


class ResponseHandler(Module):

    @staticmethod
    def make_module_description():
        inputdesc = {'data': InputDesc(datatype='string', datashape=(None,)),
                     'return_type': InputDesc(datatype='string', datashape=(None,))}
        outputdesc = {'RetDataDict': OutputDesc(datatype='{}', datashape=(None,))}
        return ModuleDesc(inputdesc, outputdesc)

    @staticmethod
    def run(inputs):
        data = inputs['data']
        return_type = inputs['return_type']
        if return_type == 'audio':
            stream = 'data:audio/wav;base64,' + str(b64encode(data), 'utf-8')
        elif return_type == 'text':
            stream = data
        else:
            raise ValueError(f"return_type must be 'audio' or 'text', not {return_type!r}")
        return {'RetDataDict': {'result': stream, 'success': True}}
