# Shared by apply.py and apply_post.py: saves the files they patch (or puts
# them back with "restore") and copies tsc_trace.h into the checkout.
import sys,shutil,os
root='/work/main/'
files=['src/api/c_api.cc','transports/shm/pair.cc','transports/shm/context.cc','src/core/comm.cc','src/core/executor.cc','src/core/executor_inorder.cc']
if sys.argv[1]=='restore':
    for f in files: shutil.copy('/tmp/trace/orig/'+f.replace('/','_'), root+f)
    os.remove(root+'src/core/tsc_trace.h'); sys.exit()
os.makedirs('/tmp/trace/orig',exist_ok=True)
for f in files: shutil.copy(root+f,'/tmp/trace/orig/'+f.replace('/','_'))
shutil.copy(os.path.join(os.path.dirname(os.path.abspath(__file__)), 'tsc_trace.h'), root+'src/core/tsc_trace.h')
def edit(f, pairs):
    s=open(root+f).read()
    for a,b in pairs:
        assert a in s, (f,a); s=s.replace(a,b,1)
    s=s.replace('#include','#include "core/tsc_trace.h"\n#include',1)
    open(root+f,'w').write(s)
