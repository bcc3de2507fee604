# Medians per part of the post-arrival trace (apply_post.py).
import glob,statistics as S
fs=sorted(glob.glob('/tmp/trace/t.*'))
A=[list(map(int,l.split())) for l in open(fs[0])]
n=len(A)
segs=[('enter->publish',0,1),('publish->seen',1,2),('seen->poll return',2,7),('poll ret->slot ready (8)',7,8),('slot->reduced (4)',8,4),('reduced->steps done (5)',4,5),('done->comm returns (6)',5,6),('comm->exit (3)',6,3)]
rows={k:[] for k,_,_ in segs}; rows['total']=[]
for k in range(3000,n-3000):
    a=A[k]
    if 0 in [a[i] for i in (0,1,2,3,4,5,6,7,8)]: continue
    for name,x,y in segs: rows[name].append(a[y]-a[x])
    rows['total'].append(A[k+1][0]-a[0])
for k,v in rows.items():
    v=sorted(v)
    print("%-28s med %6d  p10 %6d  p90 %6d"%(k,S.median(v),v[len(v)//10],v[9*len(v)//10]))
