# As apply.py, with the marks along the path after the peer's entry arrives.
from stamp_common import *
s=open(root+'src/api/c_api.cc').read()
old='shoalResult_t shoalAllReduce(const void* sendbuff, void* recvbuff, size_t count,'
i=s.index(old); j=s.index('{',i); k=s.index('\n}\n',j); body=s[j+1:k]
s=s[:j+1]+'\n  shoal::trace::mark(0);\n  shoalResult_t rr = [&]() -> shoalResult_t {'+body+'\n  }();\n  shoal::trace::mark(3);\n  return rr;'+s[k:]
s=s.replace('#include','#include "core/tsc_trace.h"\nstatic shoal::trace::AtExit atExitTrace;\n#include',1)
open(root+'src/api/c_api.cc','w').write(s)
edit('transports/shm/pair.cc',[('''  q.publish(e);
  if (ctx_.demotes()) demoteEntry(e, noteLen + e.len);''','''  q.publish(e);
  shoal::trace::mark(1);
  if (ctx_.demotes()) demoteEntry(e, noteLen + e.len);''')])
edit('transports/shm/context.cc',[('''      } else if (e->kind == Event::kWrite) {
        ev.imm = e->imm;''','''      } else if (e->kind == Event::kWrite) {
        shoal::trace::mark(2);
        sawWrite = true;
        ev.imm = e->imm;'''),('''  if (++pollStart_ >= size_) pollStart_ = 0;
  return n;''','''  if (++pollStart_ >= size_) pollStart_ = 0;
  if (sawWrite) shoal::trace::mark(7);
  return n;'''),('''size_t ShmContext::poll(Event* events, size_t max) {
  size_t n = 0;''','''size_t ShmContext::poll(Event* events, size_t max) {
  bool sawWrite = false;
  size_t n = 0;''')])
edit('src/core/comm.cc',[('''  } catch (const Error& e) {
    comm->brokenReason = e.what();
    throw;
  }
}''','''  } catch (const Error& e) {
    comm->brokenReason = e.what();
    throw;
  }
  shoal::trace::mark(6);
}''')])
edit('src/core/executor_inorder.cc',[('''        ch.arrived[slot] = 0;
        ++ch.creditsOwed;''','''        shoal::trace::mark(4);
        ch.arrived[slot] = 0;
        ++ch.creditsOwed;'''),('''        const char* data = static_cast<const char*>(ch.staging->data()) + slot * slotBytes_;''','''        shoal::trace::mark(8);
        const char* data = static_cast<const char*>(ch.staging->data()) + slot * slotBytes_;'''),
('''  // As in the general loop: credits short of a batch stay owed.''','''  shoal::trace::mark(5);
  // As in the general loop: credits short of a batch stay owed.''')])
