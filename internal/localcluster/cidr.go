package localcluster

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// Address ranges. The Service range and the pod ranges never overlap: Services live in
// 10.0.0.0/12 at most (the apiserver refuses a larger IPv4 Service range), pods in
// 10.100.0.0/16 blocks (the default) or in 10.128.0.0/9 (larger pod ranges).
const (
	// DefaultServiceCIDR holds 65,534 Services: above the 10,000 of Kubernetes' scalability
	// thresholds. Its first address, 10.0.0.1 (the "kubernetes" Service), is in the
	// apiserver certificate.
	DefaultServiceCIDR = "10.0.0.0/16"
	// DefaultPodCIDRPrefix is the prefix length of each start's pod range: a /16 holds
	// 65,534 pod IPs. Use 14 (262,142) or less for 150,000 pods.
	DefaultPodCIDRPrefix = 16
	// MinPodCIDRPrefix bounds the pod range to 10.128.0.0/9 (8 million addresses).
	MinPodCIDRPrefix = 9
	// MaxPodCIDRPrefix keeps at least 254 pod addresses.
	MaxPodCIDRPrefix = 24
)

var (
	serviceSpace   = netip.MustParsePrefix("10.0.0.0/12")
	largePodSpace  = netip.MustParsePrefix("10.128.0.0/9")
	defaultPodBase = 100 // 10.100.0.0/16 .. 10.199.0.0/16
)

// parseServiceCIDR checks a Service range (IPv4, /12 to /28, inside 10.0.0.0/12) and
// returns it normalised.
func parseServiceCIDR(s string) (string, error) {
	p, err := netip.ParsePrefix(strings.TrimSpace(s))
	if err != nil {
		return "", fmt.Errorf("service CIDR %q: not a CIDR such as %s", s, DefaultServiceCIDR)
	}
	p = p.Masked()
	if !p.Addr().Is4() || !serviceSpace.Contains(p.Addr()) || p.Bits() < serviceSpace.Bits() || p.Bits() > 28 {
		return "", fmt.Errorf("service CIDR %q: must be an IPv4 range between /12 and /28 inside %s (pods use 10.100.0.0/16 and up)", s, serviceSpace)
	}
	return p.String(), nil
}

// ServiceCapacity is how many Services besides "kubernetes" a Service range holds: its
// addresses minus the network and broadcast addresses (which the apiserver's allocator never
// hands out) and the "kubernetes" Service's own.
func ServiceCapacity(cidr string) (int, error) {
	p, err := netip.ParsePrefix(cidr)
	if err != nil {
		return 0, err
	}
	return 1<<(32-p.Bits()) - 3, nil
}

// ParsePodCIDRPrefix reads a pod range size given as "/14", "14" or "0" (the default).
func ParsePodCIDRPrefix(s string) (int, error) {
	v := strings.TrimPrefix(strings.TrimSpace(s), "/")
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, fmt.Errorf("pod CIDR size %q: give a prefix length such as /%d (each start gets a fresh range of that size)", s, DefaultPodCIDRPrefix)
	}
	if n == 0 {
		return DefaultPodCIDRPrefix, nil
	}
	if n < MinPodCIDRPrefix || n > MaxPodCIDRPrefix {
		return 0, fmt.Errorf("pod CIDR size /%d: must be between /%d and /%d", n, MinPodCIDRPrefix, MaxPodCIDRPrefix)
	}
	return n, nil
}

// podCIDRFor returns kwok's pod range for a start generation: kwok's IP pool lives in
// memory, so each start takes a fresh, disjoint range and never hands out an address that a
// pod of an earlier run still holds. /16 (the default) rotates over 10.100-10.199; larger
// ranges rotate over the blocks of 10.128.0.0/9 (a /14 has 32, a /9 only one: no
// rotation); smaller ones over the blocks of 10.100.0.0/14. kwok is given the range's first
// host, as it was before sizes existed.
func podCIDRFor(prefix, generation int) string {
	switch {
	case prefix == DefaultPodCIDRPrefix:
		return fmt.Sprintf("10.%d.0.1/16", defaultPodBase+generation%100)
	case prefix < DefaultPodCIDRPrefix:
		blocks := 1 << (prefix - largePodSpace.Bits())
		return nthBlock(largePodSpace, prefix, generation%blocks)
	default:
		// Smaller than a /16: blocks inside 10.100.0.0/14 (1024 /24s at most).
		space := netip.MustParsePrefix("10.100.0.0/14")
		blocks := 1 << (prefix - space.Bits())
		return nthBlock(space, prefix, generation%blocks)
	}
}

// nthBlock returns block i of size /prefix inside space, as "first-host/prefix".
func nthBlock(space netip.Prefix, prefix, i int) string {
	a := space.Addr().As4()
	v := binary.BigEndian.Uint32(a[:]) + uint32(i)<<(32-prefix) + 1
	binary.BigEndian.PutUint32(a[:], v)
	return netip.AddrFrom4(a).String() + "/" + strconv.Itoa(prefix)
}

// defaultRanges fills and checks ServiceCIDR and PodCIDRPrefix.
func (c *Config) defaultRanges() error {
	if c.ServiceCIDR == "" {
		c.ServiceCIDR = DefaultServiceCIDR
	}
	var err error
	if c.ServiceCIDR, err = parseServiceCIDR(c.ServiceCIDR); err != nil {
		return err
	}
	if c.PodCIDRPrefix == 0 {
		c.PodCIDRPrefix = DefaultPodCIDRPrefix
	}
	if c.PodCIDRPrefix < MinPodCIDRPrefix || c.PodCIDRPrefix > MaxPodCIDRPrefix {
		return fmt.Errorf("pod CIDR size /%d: must be between /%d and /%d", c.PodCIDRPrefix, MinPodCIDRPrefix, MaxPodCIDRPrefix)
	}
	return nil
}

// rangesFingerprint is the part of the fingerprint for the address ranges: a cluster
// started with other ranges (or before they were configurable, with a /24) is restarted.
func (c Config) rangesFingerprint() string {
	return fmt.Sprintf(" services=%s pods=/%d", c.ServiceCIDR, c.PodCIDRPrefix)
}
