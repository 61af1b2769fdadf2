package config

import (
	"strings"
	"testing"
)

// TestAuditHold: audit_hold defaults to 10000, is read from YAML and the
// environment, and must be at least 1.
func TestAuditHold(t *testing.T) {
	c, err := Load(Sources{Env: env(nil)})
	if err != nil || c.AuditHold != 10000 {
		t.Fatalf("default audit_hold = %d, %v; want 10000", c.AuditHold, err)
	}
	c, err = Load(Sources{Env: env(map[string]string{"TOLK_AUDIT_HOLD": "500"})})
	if err != nil || c.Validate() != nil || c.AuditHold != 500 {
		t.Errorf("from env: %d %v %v", c.AuditHold, err, c.Validate())
	}
	c, err = Load(Sources{File: "t.yaml", Env: env(nil), ReadFile: files(map[string]string{"t.yaml": "audit_hold: 20000\n"})})
	if err != nil || c.Validate() != nil || c.AuditHold != 20000 {
		t.Errorf("from YAML: %d %v %v", c.AuditHold, err, c.Validate())
	}
	c, err = Load(Sources{Env: env(map[string]string{"TOLK_AUDIT_HOLD": "0"})})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "audit_hold") {
		t.Errorf("audit_hold 0: Validate() = %v, want an audit_hold error", err)
	}
}
