package term

import (
	"strconv"
	"time"
)

// Age formats how long before now t was, in kubectl's short style (45s, 3m, 5h, 4d):
// seconds below two minutes, minutes below two hours, hours below two days. A zero t is
// "<unknown>", a t after now "0s".
func Age(now, t time.Time) string {
	if t.IsZero() {
		return "<unknown>"
	}
	d := now.Sub(t)
	switch {
	case d < 0:
		return "0s"
	case d < 2*time.Minute:
		return strconv.Itoa(int(d.Seconds())) + "s"
	case d < 2*time.Hour:
		return strconv.Itoa(int(d.Minutes())) + "m"
	case d < 48*time.Hour:
		return strconv.Itoa(int(d.Hours())) + "h"
	}
	return strconv.Itoa(int(d.Hours()/24)) + "d"
}
