# Patches a checkout at `root` with TSC marks along a small allreduce's path
# before the write (see ../README.md); "restore" puts the files back.
from stamp_common import *
s=open(root+'src/api/c_api.cc').read()
old='shoalResult_t shoalAllReduce(const void* sendbuff, void* recvbuff, size_t count,'
i=s.index(old); j=s.index('{',i); k=s.index('\n}\n',j); body=s[j+1:k]
s=s[:j+1]+'\n  shoal::trace::mark(0);\n  shoalResult_t rr = [&]() -> shoalResult_t {'+body+'\n  }();\n  shoal::trace::mark(3);\n  return rr;'+s[k:]
s=s.replace('''  shoalResult_t claimed = claim(comm, name);
  if (claimed != shoalSuccess) return claimed;
  CallHold hold(comm);''','''  shoalResult_t claimed = claim(comm, name);
  if (claimed != shoalSuccess) return claimed;
  shoal::trace::mark(4);
  CallHold hold(comm);''',1)
s=s.replace('''    if (comm->streams) comm->streams->drain(shoal::Deadline::after(comm->timeoutSeconds));
    shoal::commCollective(''','''    if (comm->streams) comm->streams->drain(shoal::Deadline::after(comm->timeoutSeconds));
    shoal::trace::mark(5);
    shoal::commCollective(''',1)
s=s.replace('#include','#include "core/tsc_trace.h"\nstatic shoal::trace::AtExit atExitTrace;\n#include',1)
open(root+'src/api/c_api.cc','w').write(s)
edit('transports/shm/pair.cc',[('''  q.publish(e);
  if (ctx_.demotes()) demoteEntry(e, noteLen + e.len);''','''  q.publish(e);
  shoal::trace::mark(1);
  if (ctx_.demotes()) demoteEntry(e, noteLen + e.len);'''),('''  MailboxQueue& q = ctx_.outbox(peer_);
  // Check for room first''','''  shoal::trace::mark(9);
  MailboxQueue& q = ctx_.outbox(peer_);
  // Check for room first''')])
edit('transports/shm/context.cc',[('''      } else if (e->kind == Event::kWrite) {
        ev.imm = e->imm;''','''      } else if (e->kind == Event::kWrite) {
        shoal::trace::mark(2);
        ev.imm = e->imm;''')])
edit('src/core/comm.cc',[('''  const Schedule& sch = pl.schedule;''','''  shoal::trace::mark(6);
  const Schedule& sch = pl.schedule;''')])
edit('src/core/executor.cc',[('''  if (inOrder) {''','''  shoal::trace::mark(7);
  if (inOrder) {''')])
edit('src/core/executor_inorder.cc',[('''        try {
          waitFor([&] {''','''        shoal::trace::mark(8);
        try {
          waitFor([&] {''')])
