#include <atomic>
#include <thread>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <cstdlib>
#include <pthread.h>
struct alignas(64) Entry { std::atomic<uint32_t> stamp; uint32_t a; uint64_t b; uint64_t c; uint8_t body[ENTRY-24]; };
struct alignas(64) Q { alignas(64) uint64_t head=0; alignas(64) std::atomic<uint64_t> tail{0}; Entry e[NENT]; };
Q* q[2];
void pin(int c){cpu_set_t s;CPU_ZERO(&s);CPU_SET(c,&s);pthread_setaffinity_np(pthread_self(),sizeof s,&s);}
int main(){
  q[0]=(Q*)aligned_alloc(4096,sizeof(Q)); q[1]=(Q*)aligned_alloc(4096,sizeof(Q)); memset((void*)q[0],0,sizeof(Q)); memset((void*)q[1],0,sizeof(Q));
  const int N=2000000;
  auto f=[&](int me){pin(me); Q& out=*q[1-me]; Q& in=*q[me]; uint64_t sum=0;
    for(uint64_t i=0;i<N;i++){ Entry& e=out.e[out.head%NENT]; e.a=1; e.b=i; memcpy(e.body, &i, 8); e.stamp.store((uint32_t)(out.head+1),std::memory_order_release); out.head++;
      uint64_t t=in.tail.load(std::memory_order_relaxed); Entry& r=in.e[t%NENT];
      while(r.stamp.load(std::memory_order_acquire)!=(uint32_t)(t+1)){}
      sum+=r.b; in.tail.store(t+1,std::memory_order_release);}
    if(sum==42) puts("x");};
  auto t0=std::chrono::steady_clock::now();
  std::thread t(f,1); f(0); t.join();
  auto t1=std::chrono::steady_clock::now();
  printf("entry %d x %d: symmetric exchange %.1f ns/iter\n", ENTRY, NENT, std::chrono::duration<double,std::nano>(t1-t0).count()/N);
}
