#include <atomic>
#include <thread>
#include <chrono>
#include <cstdio>
#include <pthread.h>
struct alignas(64) L { std::atomic<uint64_t> v{0}; };
L a, b;
void pin(int c){cpu_set_t s;CPU_ZERO(&s);CPU_SET(c,&s);pthread_setaffinity_np(pthread_self(),sizeof s,&s);}
int main(){
  const int N=2000000;
  // symmetric exchange: each writes own line, waits for the other's
  auto f=[&](int me){pin(me); L& mine= me?b:a; L& other= me?a:b;
    for(uint64_t i=1;i<=N;i++){ mine.v.store(i,std::memory_order_release); while(other.v.load(std::memory_order_acquire)<i){} }};
  auto t0=std::chrono::steady_clock::now();
  std::thread t(f,1); f(0); t.join();
  auto t1=std::chrono::steady_clock::now();
  printf("symmetric exchange: %.1f ns/iter\n", std::chrono::duration<double,std::nano>(t1-t0).count()/N);
  a.v=0;b.v=0;
  auto g=[&](int me){pin(me); for(uint64_t i=1;i<=N;i++){ if(me==0){a.v.store(i,std::memory_order_release); while(b.v.load(std::memory_order_acquire)<i){}} else {while(a.v.load(std::memory_order_acquire)<i){} b.v.store(i,std::memory_order_release);} }};
  t0=std::chrono::steady_clock::now();
  std::thread t2(g,1); g(0); t2.join();
  t1=std::chrono::steady_clock::now();
  printf("ping-pong round trip: %.1f ns/iter\n", std::chrono::duration<double,std::nano>(t1-t0).count()/N);
}
