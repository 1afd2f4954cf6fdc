package receipt_test

import (
	"encoding/json"
	"testing"

	"github.com/receiptd/receiptd/receipt"
)

func TestActions(t *testing.T) {
	tests := []struct {
		give           receipt.Action
		valid, isGroup bool
		zim, event     string
	}{
		{receipt.GroupRead, true, true, "GroupReadReceipt", "group_read"},
		{receipt.C2CRead, true, false, "C2cReadReceipt", "c2c_read"},
		{receipt.GroupDelivered, true, true, "GroupDeliveryReceipt", "group_delivered"},
		{receipt.C2CDelivered, true, false, "C2cDeliveryReceipt", "c2c_delivered"},
		{0, false, false, "", ""},
		{receipt.C2CDelivered + 1, false, false, "", ""},
		{255, false, false, "", ""},
	}
	for _, tt := range tests {
		if got := tt.give.Valid(); got != tt.valid {
			t.Errorf("Action(%d).Valid() = %v, want %v", tt.give, got, tt.valid)
		}
		if got := tt.give.IsGroup(); got != tt.isGroup {
			t.Errorf("Action(%d).IsGroup() = %v, want %v", tt.give, got, tt.isGroup)
		}
		if got := tt.give.String(); got != tt.zim {
			t.Errorf("Action(%d).String() = %q, want %q", tt.give, got, tt.zim)
		}
		if got := tt.give.EventType(); got != tt.event {
			t.Errorf("Action(%d).EventType() = %q, want %q", tt.give, got, tt.event)
		}
		if !tt.valid {
			continue
		}
		if a, ok := receipt.ActionOfEventType(tt.event); !ok || a != tt.give {
			t.Errorf("ActionOfEventType(%q) = %v, %v; want %v", tt.event, a, ok, tt.give)
		}
	}
	for _, typ := range []string{"", "GroupReadReceipt", "group_read ", "Group_Read", "read"} {
		if a, ok := receipt.ActionOfEventType(typ); ok {
			t.Errorf("ActionOfEventType(%q) = %v, want none", typ, a)
		}
	}
	if len(receipt.Actions) != 4 {
		t.Errorf("Actions has %d entries, want 4", len(receipt.Actions))
	}
	for _, a := range receipt.Actions {
		if !a.Valid() {
			t.Errorf("Actions contains invalid %d", a)
		}
	}
}

// TestClassString: every class has one name, and a value outside the list
// reads as unknown everywhere (String, Known, MarshalText), so logs, metrics
// and the worker agree on it.
func TestClassString(t *testing.T) {
	tests := []struct {
		give receipt.Class
		want string
	}{
		{receipt.ClassSuccess, "success"},
		{receipt.ClassRateLimited, "rate_limited"},
		{receipt.ClassGroupRateLimited, "group_rate_limited"},
		{receipt.ClassTransient, "transient"},
		{receipt.ClassResign, "resign"},
		{receipt.ClassTooMany, "too_many"},
		{receipt.ClassDeadLetter, "dead_letter"},
		{receipt.ClassSystemic, "systemic"},
		{receipt.ClassUnknown, "unknown"},
		{receipt.ClassUnknown + 1, "unknown"},
		{receipt.Class(200), "unknown"},
	}
	for _, tt := range tests {
		if got := tt.give.String(); got != tt.want {
			t.Errorf("Class(%d).String() = %q, want %q", tt.give, got, tt.want)
		}
		if b, _ := tt.give.MarshalText(); string(b) != tt.want {
			t.Errorf("Class(%d).MarshalText() = %q, want %q", tt.give, b, tt.want)
		}
	}
	if got := receipt.Class(200).Known(); got != receipt.ClassUnknown {
		t.Errorf("Class(200).Known() = %d, want ClassUnknown", got)
	}
	for i, c := range receipt.Classes {
		if int(c) != i || c.Known() != c {
			t.Errorf("Classes[%d] = %d (Known %d)", i, c, c.Known())
		}
	}
	b, err := json.Marshal(map[string]receipt.Class{"class": receipt.ClassTooMany})
	if err != nil || string(b) != `{"class":"too_many"}` {
		t.Errorf("JSON of a class = %s, %v", b, err)
	}
}
