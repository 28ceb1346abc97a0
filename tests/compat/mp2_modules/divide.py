"""modulespack2's `divide` module (module/ModuleLib/divide.py), in the original style: y = x1 / x2 and z = x1."""
import numpy as np

from modulespack.compat import InputDesc, Module, ModuleDesc, OutputDesc


class divide(Module):

    def __init__(self):
        pass

    @staticmethod
    def make_module_description():
        inputdesc = {'x1': InputDesc(datatype=np.float32, datashape=(None,)),
                     'x2': InputDesc(datatype=np.float32, datashape=(None,))}
        outputdesc = {'z': OutputDesc(datatype=np.float32, datashape=(None,)),
                      'y': OutputDesc(datatype=np.float32, datashape=(None,))}
        return ModuleDesc(inputdesc, outputdesc)

    @staticmethod
    def run(inputs):
        x1 = inputs['x1']
        x2 = inputs['x2']
        return {'y': x1 / x2, 'z': x1}
