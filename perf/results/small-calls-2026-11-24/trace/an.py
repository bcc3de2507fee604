# Medians per part of the pre-write trace (apply.py) over two ranks' files.
import glob,statistics as S
fs=sorted(glob.glob('/tmp/trace/t.*'))
A=[list(map(int,l.split())) for l in open(fs[0])]
B=[list(map(int,l.split())) for l in open(fs[1])]
n=min(len(A),len(B))
segs=[('enter->claimed',0,4),('claimed->checks done',4,5),('checks->plan (startCall)',5,6),('plan->runSchedule setup',6,7),('setup->send step',7,8),('send step->writeWithNote',8,9),('writeWithNote->publish',9,1),('publish->seen own',1,2),('seen->exit',2,3)]
rows={k:[] for k,_,_ in segs}; rows['oneway']=[]; rows['total']=[]; rows['between']=[]
for k in range(3000,n-3000):
    a,b=A[k],B[k]
    if 0 in a[:10] or 0 in b[:10]: continue
    for name,x,y in segs: rows[name].append(a[y]-a[x])
    rows['oneway'].append(b[2]-a[1]); rows['total'].append(A[k+1][0]-a[0]); rows['between'].append(A[k+1][0]-a[3])
for k,v in rows.items():
    v=sorted(v)
    print("%-28s med %6d  p10 %6d  p90 %6d"%(k,S.median(v),v[len(v)//10],v[9*len(v)//10]))
