package config

// PolicyFor is a stub until the config parser lands: it returns the
// effective policy of a stack from the config's policies.
func (c *Config) PolicyFor(clientID, stackID string) PolicySpec {
	var stackPol, clientPol *PolicySpec
	for i := range c.Policies {
		p := &c.Policies[i]
		if p.Metadata.ClientID != clientID {
			continue
		}
		switch p.Metadata.StackID {
		case stackID:
			stackPol = &p.Spec
		case "":
			clientPol = &p.Spec
		}
	}
	return EffectivePolicy(stackPol, clientPol)
}
