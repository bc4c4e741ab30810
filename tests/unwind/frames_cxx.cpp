/*
 * frames_cxx.cpp — C++ frames: a std::sort comparator (the sort's frames
 * are instantiated here, built -fomit-frame-pointer) and a std::streambuf
 * that libstdc++'s own ostream code calls.
 */
#include <algorithm>
#include <ostream>
#include <streambuf>
#include <vector>

#include "unwind_test.h"

void cxx_sort_capture(struct shot *s)
{
    std::vector<int> v(256);
    for (size_t i = 0; i < v.size(); i++)
        v[i] = (int)((i * 7919u) % 257u);
    bool taken = false;
    std::sort(v.begin(), v.end(), [&](int a, int b) {
        if (!taken && a > 100 && b > 100) {
            taken = true;
            capture(s);
        }
        return a < b;
    });
    unwind_test_sink += (uintptr_t)v[0] + taken;
}

namespace
{
class capturing_buf : public std::streambuf
{
  public:
    explicit capturing_buf(struct shot *s) : s_(s)
    {
    }

  protected:
    std::streamsize xsputn(const char *p, std::streamsize n) override
    {
        if (!taken_) {
            taken_ = true;
            capture(s_);
        }
        unwind_test_sink += (uintptr_t)p[0];
        return n;
    }
    int_type overflow(int_type c) override
    {
        return c;
    }

  private:
    struct shot *s_;
    bool taken_ = false;
};
} // namespace

void cxx_stream_capture(struct shot *s)
{
    capturing_buf buf(s);
    std::ostream os(&buf);
    os << "through libstdc++ " << 42;
    unwind_test_sink++;
}
