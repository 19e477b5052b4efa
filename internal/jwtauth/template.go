package jwtauth

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/nats-io/jwt/v2"

	"github.com/wsbroker/broker/internal/sublist"
)

// maxTemplateSubjects bounds the subjects one permission list may expand to
// through tag templates (nats-server's limit).
const maxTemplateSubjects = 4096

// templateRE finds the {{ operation }} placeholders of a scope template.
var templateRE = regexp.MustCompile(`\{\{[^}]+\}\}`)

// applyScope validates a user signed by a scoped signing key and replaces its
// permissions and limits with the scope's template, expanded for this user
// and account.
func applyScope(scope jwt.Scope, uc *jwt.UserClaims, ac *jwt.AccountClaims) error {
	if err := scope.ValidateScopedSigner(uc); err != nil {
		return fmt.Errorf("%w: %v", ErrScopedUser, err)
	}
	us, ok := scope.(*jwt.UserScope)
	if !ok {
		return fmt.Errorf("%w: unsupported scope %T", ErrScopedUser, scope)
	}
	lim := us.Template // a copy; its lists are replaced, never modified
	lim.Permissions.Pub.Allow = nil
	lim.Permissions.Pub.Deny = nil
	lim.Permissions.Sub.Allow = nil
	lim.Permissions.Sub.Deny = nil
	t := us.Template.Permissions
	lists := []struct {
		in        jwt.StringList
		out       *jwt.StringList
		failOnBad bool
	}{
		{t.Sub.Allow, &lim.Permissions.Sub.Allow, false},
		{t.Sub.Deny, &lim.Permissions.Sub.Deny, true},
		{t.Pub.Allow, &lim.Permissions.Pub.Allow, false},
		{t.Pub.Deny, &lim.Permissions.Pub.Deny, true},
	}
	for _, l := range lists {
		out, err := expandList(l.in, l.failOnBad, uc, ac)
		if err != nil {
			return fmt.Errorf("%w: generated invalid permissions: %v", ErrScopedUser, err)
		}
		*l.out = out
	}
	// An allow list that expanded to nothing must not turn into "allow all".
	if len(t.Sub.Allow) > 0 && len(lim.Permissions.Sub.Allow) == 0 {
		lim.Permissions.Sub.Deny.Add(">")
	}
	if len(t.Pub.Allow) > 0 && len(lim.Permissions.Pub.Allow) == 0 {
		lim.Permissions.Pub.Deny.Add(">")
	}
	uc.UserPermissionLimits = lim
	return nil
}

// expandList expands the placeholders of one permission list. Subjects that
// come out invalid are dropped, or are an error when failOnBad (deny lists:
// dropping a deny would widen access).
func expandList(list jwt.StringList, failOnBad bool, uc *jwt.UserClaims, ac *jwt.AccountClaims) (jwt.StringList, error) {
	hasTemplate := false
	for _, s := range list {
		if templateRE.MatchString(s) {
			hasTemplate = true
			break
		}
	}
	if !hasTemplate {
		return append(jwt.StringList(nil), list...), nil
	}
	out := make(jwt.StringList, 0, len(list))
	for _, s := range list {
		holders := templateRE.FindAllString(s, -1)
		values := make([][]string, len(holders))
		n := 1
		for i, h := range holders {
			v, err := templateValues(h, s, failOnBad, uc, ac)
			if err != nil {
				return nil, err
			}
			values[i] = v
			if n > maxTemplateSubjects/len(v) {
				return nil, errTemplateExpansion
			}
			n *= len(v)
		}
		if len(out)+n > maxTemplateSubjects {
			return nil, errTemplateExpansion
		}
		idx := make([]int, len(holders))
		for range n {
			subj := s
			for i, h := range holders {
				subj = strings.ReplaceAll(subj, h, values[i][idx[i]])
			}
			switch {
			case sublist.IsValidSubject(subj):
				out = append(out, subj)
			case failOnBad:
				return nil, fmt.Errorf("generated invalid subject %q from %q", subj, s)
			}
			for i := len(idx) - 1; i >= 0; i-- { // next combination
				if idx[i]++; idx[i] < len(values[i]) {
					break
				}
				idx[i] = 0
			}
		}
	}
	return out, nil
}

// errTemplateExpansion reports a template expanding past maxTemplateSubjects.
var errTemplateExpansion = errors.New("permission template expansion limit exceeded: 4096")

// templateValues returns the values a placeholder ("{{name()}}",
// "{{tag(region)}}", ...) of subject s stands for. A tag with no value is an
// error when failOnBad, else it yields an invalid subject (dropped later).
func templateValues(holder, s string, failOnBad bool, uc *jwt.UserClaims, ac *jwt.AccountClaims) ([]string, error) {
	op := strings.TrimSpace(holder[2 : len(holder)-2])
	switch {
	case strings.EqualFold(op, "name()"):
		return []string{uc.Name}, nil
	case strings.EqualFold(op, "subject()"):
		return []string{uc.Subject}, nil
	case strings.EqualFold(op, "account-name()"):
		return []string{ac.Name}, nil
	case strings.EqualFold(op, "account-subject()"):
		return []string{uc.IssuerAccount}, nil
	}
	var tags jwt.TagList
	var name string
	if n, ok := cutFold(op, "tag(", ")"); ok {
		tags, name = uc.Tags, n
	} else if n, ok := cutFold(op, "account-tag(", ")"); ok {
		tags, name = ac.Tags, n
	} else {
		return nil, fmt.Errorf("template operation in %q: %q is not defined", s, op)
	}
	prefix := strings.ToLower(name) + ":"
	var vals []string
	for _, tag := range tags {
		if v, ok := strings.CutPrefix(tag, prefix); ok {
			vals = append(vals, v)
		}
	}
	switch {
	case len(vals) > 0:
		return vals, nil
	case failOnBad:
		return nil, fmt.Errorf("generated invalid subject %q: %q is not defined", s, name)
	}
	return []string{" "}, nil
}

// cutFold returns what s holds between prefix (matched case-insensitively)
// and suffix.
func cutFold(s, prefix, suffix string) (string, bool) {
	if len(s) < len(prefix) || !strings.EqualFold(s[:len(prefix)], prefix) || !strings.HasSuffix(s, suffix) {
		return "", false
	}
	return s[len(prefix) : len(s)-len(suffix)], true
}
