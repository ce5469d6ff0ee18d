package localcluster

import (
	"net/netip"
	"strings"
	"testing"
)

func TestPodCIDRForRotatesDisjointRanges(t *testing.T) {
	cases := []struct {
		prefix, gen int
		want        string
	}{
		{16, 0, "10.100.0.1/16"},
		{16, 1, "10.101.0.1/16"},
		{16, 100, "10.100.0.1/16"},
		{14, 0, "10.128.0.1/14"},
		{14, 1, "10.132.0.1/14"},
		{14, 32, "10.128.0.1/14"},
		{9, 5, "10.128.0.1/9"},
		{20, 3, "10.100.48.1/20"},
	}
	for _, c := range cases {
		if got := podCIDRFor(c.prefix, c.gen); got != c.want {
			t.Errorf("podCIDRFor(/%d, %d) = %s, want %s", c.prefix, c.gen, got, c.want)
		}
	}
	// Consecutive starts never share an address, and no pod range meets the Service space.
	for _, prefix := range []int{9, 12, 14, 16, 20, 24} {
		a := netip.MustParsePrefix(podCIDRFor(prefix, 0)).Masked()
		b := netip.MustParsePrefix(podCIDRFor(prefix, 1)).Masked()
		if prefix > MinPodCIDRPrefix && a.Overlaps(b) {
			t.Errorf("/%d: generations 0 and 1 overlap: %s %s", prefix, a, b)
		}
		if a.Overlaps(serviceSpace) {
			t.Errorf("/%d: pod range %s overlaps the Service space", prefix, a)
		}
	}
}

func TestRangesDefaultsAndErrors(t *testing.T) {
	c, err := Config{StateDir: "s", BinDir: "b"}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	if c.ServiceCIDR != DefaultServiceCIDR || c.PodCIDRPrefix != DefaultPodCIDRPrefix {
		t.Fatalf("defaults: %s /%d", c.ServiceCIDR, c.PodCIDRPrefix)
	}
	if n, _ := ServiceCapacity(c.ServiceCIDR); n < 10000 {
		t.Fatalf("default Service range holds %d Services, want ≥ 10,000", n)
	}
	for _, bad := range []string{"10.0.0.0/8", "192.168.0.0/16", "10.100.0.0/16", "fd00::/108", "nonsense"} {
		_, err := Config{StateDir: "s", BinDir: "b", ServiceCIDR: bad}.withDefaults()
		if err == nil || !strings.Contains(err.Error(), "service CIDR") {
			t.Errorf("service CIDR %q: err = %v", bad, err)
		}
	}
	for in, want := range map[string]int{"/14": 14, "14": 14, "0": 16, "/20": 20} {
		if got, err := ParsePodCIDRPrefix(in); err != nil || got != want {
			t.Errorf("ParsePodCIDRPrefix(%q) = %d, %v", in, got, err)
		}
	}
	for _, bad := range []string{"/8", "/25", "10.0.0.0/16", "x"} {
		if _, err := ParsePodCIDRPrefix(bad); err == nil {
			t.Errorf("ParsePodCIDRPrefix(%q): no error", bad)
		}
	}
	// The ranges are part of the fingerprint: another range restarts the cluster.
	d, _ := Config{StateDir: "s", BinDir: "b", ServiceCIDR: "10.0.0.0/14"}.withDefaults()
	if c.fingerprint() == d.fingerprint() {
		t.Fatal("fingerprint ignores the Service range")
	}
}
