package dashstream

import "testing"

// classCapacity is the capacity of canonical buffer class c.
func classCapacity(c int) int {
	if c == 0 {
		return 1 << canonMinBits
	}
	base := 1 << (canonMinBits + (c-1)/canonSub)
	return base + ((c-1)%canonSub+1)*(base/canonSub)
}

// TestCanonClasses: a text's class capacity holds it with at most an
// eighth to spare; a buffer goes back to the largest class it can serve,
// which for a new buffer is the class it was made for.
func TestCanonClasses(t *testing.T) {
	for n := 1; n <= 1<<22; n += 1 + n/97 {
		c, capacity := canonClass(n)
		if c < 0 || capacity != classCapacity(c) || capacity < n || (n > 64 && capacity-n > n/8+1) {
			t.Fatalf("canonClass(%d) = %d, capacity %d", n, c, capacity)
		}
		if back := canonClassOf(capacity); back != c {
			t.Fatalf("a new buffer for %d bytes (class %d, capacity %d) goes back to class %d", n, c, capacity, back)
		}
		for _, spare := range []int{1, n / 16, n / 3} {
			got := canonClassOf(capacity + spare)
			if got < c || classCapacity(got) > capacity+spare || classCapacity(got+1) <= capacity+spare {
				t.Fatalf("capacity %d goes back to class %d (capacity %d), not the largest it serves",
					capacity+spare, got, classCapacity(got))
			}
		}
	}
	if c := canonClassOf(63); c != -1 {
		t.Fatalf("a 63-byte buffer goes to class %d", c)
	}
	if c, capacity := canonClass(1 << 33); c != -1 || capacity != 1<<33 {
		t.Fatalf("beyond the classes: class %d, capacity %d", c, capacity)
	}
}
