from module import Module, ModuleDesc, InputDesc, OutputDesc
import numpy as np


# Original style, two outputs: y = x1 / x2 and z = x1.
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
        return {'y': inputs['x1'] / inputs['x2'], 'z': inputs['x1']}
