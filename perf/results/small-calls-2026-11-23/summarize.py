import glob,re,collections,sys
d=sys.argv[1]
best=collections.defaultdict(lambda: 1e18)
for f in glob.glob(d+'/*.txt'):
    m=re.match(r'.*/(\w+)_n(\d)_r(\d)\.txt',f); impl,n=m.group(1),int(m.group(2))
    for line in open(f):
        line=re.sub(r'^\[0\]','',line)
        t=line.split()
        if len(t)>=13 and t[0].isdigit() and t[2]=='float':
            size=int(t[0]); a=float(t[5]); b=float(t[9])
            best[(n,size,impl)]=min(best[(n,size,impl)],a,b)
for n in (1,2):
    print(f"\n{n} rank(s): best time in us (min over rounds and placements)")
    print("| size | before (a6c9f1c) | after | Open MPI | after vs before | after vs Open MPI |")
    print("|---|---|---|---|---|---|")
    for size in (8,32,128,512,2048):
        b,a,m=best[(n,size,'base')],best[(n,size,'new')],best[(n,size,'mpi')]
        print(f"| {size} | {b:.2f} | {a:.2f} | {m:.2f} | {b/a:.2f}x | {m/a:.2f} |")
