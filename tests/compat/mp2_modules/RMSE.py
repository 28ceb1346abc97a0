"""modulespack2's `RMSE` module (module/ModuleLib/RMSE.py): a module that runs a whole graph.

It runs RMSE_graph.json (found through `_mp2_graphlib`) with x1 and x2 fed to its start node
`firstadd` and returns that graph's result, the output of its last node `minus`:
y = (x1 + x2) * 2 * (x1 + x2) - 8, so x1=1, x2=2 gives 10.
"""
import numpy as np

from _mp2_graphlib import InnerGraph
from modulespack.compat import InputDesc, Module, ModuleDesc, OutputDesc

rmse_graph = InnerGraph('RMSE_graph')


class RMSE(Module):

    def __init__(self):
        rmse_graph.build()  # the original built its inner graph when the module file was imported

    @staticmethod
    def make_module_description():
        inputdesc = {'x1': InputDesc(datatype=np.float32, datashape=(None,)),
                     'x2': InputDesc(datatype=np.float32, datashape=(None,))}
        outputdesc = {'y': OutputDesc(datatype=np.float32, datashape=(None,))}
        return ModuleDesc(inputdesc, outputdesc)

    @staticmethod
    def run(inputs):
        feed_dic = {'firstadd': {'x1': inputs['x1'], 'x2': inputs['x2']}}
        return rmse_graph.run(feed_dic)
