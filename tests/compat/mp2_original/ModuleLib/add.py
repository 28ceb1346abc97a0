from module import Module, ModuleDesc, InputDesc, OutputDesc
import numpy as np


# An original-style modulespack2 module file (its module/ModuleLib/add.py): it imports from mp2's
# own `module` package and must load unchanged.
class add(Module):

    def __init__(self):
        pass

    @staticmethod
    def make_module_description():
        inputdesc = {'x1': InputDesc(datatype=np.float32, datashape=(None,)),
                     'x2': InputDesc(datatype=np.float32, datashape=(None,))}
        outputdesc = {'y': OutputDesc(datatype=np.float32, datashape=(None,))}
        MD = ModuleDesc(inputdesc, outputdesc)
        return MD

    @staticmethod
    def run(inputs):
        return {'y': inputs['x1'] + inputs['x2']}
