"""Stand-in for the Django app's `RequestHandler` module (API/ModuleLib/RequestHandler.py).

The original took a Django HttpRequest whose POST/GET field or JSON body `data` held a base64
data URL of an audio file, wrote the decoded bytes to a temporary .wav file and returned its path.
This stand-in does the same for what a test can hand it without Django: raw bytes, a base64
string or ``data:audio/wav;base64,...`` URL, a dict ``{'data': ...}`` (the JSON body), or any
object with ``method`` and ``POST``/``GET``/``body`` like a Django request. The file goes to
``$MP2_REQUEST_DIR`` if set, else the system temp folder, and is not deleted (as in the original).
"""
import json
import os
import tempfile
from base64 import b64decode

from modulespack.compat import InputDesc, Module, ModuleDesc, OutputDesc


def _decode(data):
    if isinstance(data, (bytes, bytearray)):
        return bytes(data)
    if isinstance(data, str):
        return b64decode(data.split(',', 1)[1] if data.startswith('data:') else data)
    raise TypeError(f'request data must be bytes or a base64 string, not {type(data).__name__}')


def _payload(request):
    if isinstance(request, (bytes, bytearray, str)):
        return request
    if isinstance(request, dict):
        return request['data']
    method = getattr(request, 'method', None)
    if method not in ('POST', 'GET'):
        raise ValueError('request method must be POST or GET!')
    query = request.POST if method == 'POST' else request.GET
    if query.get('data') is not None:
        return query.get('data')
    return json.loads(request.body.decode('utf-8'))['data']


class RequestHandler(Module):

    @staticmethod
    def make_module_description():
        inputdesc = {'request': InputDesc(datatype='HttpRequest', datashape=(None,))}
        outputdesc = {'data_file_path': OutputDesc(datatype='string', datashape=(None,))}
        return ModuleDesc(inputdesc, outputdesc)

    @staticmethod
    def run(inputs):
        plain_data = _decode(_payload(inputs['request']))
        fp = tempfile.NamedTemporaryFile(delete=False, suffix='.wav', dir=os.environ.get('MP2_REQUEST_DIR') or None)
        with fp:
            fp.write(plain_data)
        return {'data_file_path': fp.name}
