package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"strings"
	"time"

	"go.uber.org/zap"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/kubernetes"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"

	"github.com/wakefn/wake/demand"
)

// The report port's token. The controllers keep it in a Secret of their
// namespace, which the first to start creates with a random token; the
// gateways read it from that Secret mounted in their pods. Rotating it is
// changing the Secret (or deleting it: the controllers create a new one):
// the controllers read it every reportSecretPoll and keep accepting the
// old token for demand.DefaultRotationGrace, long enough for the kubelet
// to refresh the gateways' mounted copies, which they reread on their own.
const (
	defaultReportTokenSecret = "wake-report-token"
	reportTokenKey           = "token"
	// reportSecretPoll: one GET of one Secret per controller every 10s;
	// a rotation takes effect on the controllers within it.
	reportSecretPoll = 10 * time.Second
)

// checkReportSecretName says what is wrong with --report-token-secret.
func checkReportSecretName(name string) error {
	if name == "" {
		return fmt.Errorf("--report-token-secret: required: the Secret holding the token the gateways send (default %s)", defaultReportTokenSecret)
	}
	if errs := validation.IsDNS1123Subdomain(name); len(errs) > 0 {
		return fmt.Errorf("--report-token-secret %q: not a Secret name: %s", name, strings.Join(errs, "; "))
	}
	return nil
}

// gatewayReportToken reads the token a gateway sends from --report-token-file.
func gatewayReportToken(path string, log *zap.Logger) (*demand.TokenFile, error) {
	if path == "" {
		return nil, fmt.Errorf("--report-token-file: required: the file holding the token the controllers accept, "+
			"key %q of the Secret %s (in wake-system) mounted in the gateway's pod, as manifests/install/50-gateway.yaml does",
			reportTokenKey, defaultReportTokenSecret)
	}
	f, err := demand.NewTokenFile(path, demand.TokenFileOptions{Logger: log})
	if err != nil {
		return nil, fmt.Errorf("--report-token-file: %w", err)
	}
	return f, nil
}

// reportSecret is the controllers' Secret holding the report token.
type reportSecret struct {
	secrets   typedcorev1.SecretInterface
	namespace string
	name      string
	log       *zap.Logger
}

func newReportSecret(client kubernetes.Interface, namespace, name string, log *zap.Logger) *reportSecret {
	return &reportSecret{secrets: client.CoreV1().Secrets(namespace), namespace: namespace, name: name, log: log}
}

func (s *reportSecret) where() string {
	return fmt.Sprintf("Secret %s/%s", s.namespace, s.name)
}

// tokens reads the token, creating the Secret if it does not exist, and
// returns the Tokens the controller accepts.
func (s *reportSecret) tokens(ctx context.Context) (*demand.Tokens, error) {
	token, _, err := s.ensure(ctx)
	if err != nil {
		return nil, err
	}
	return demand.NewTokens(token, demand.TokensOptions{})
}

// ensure returns the Secret's token, creating the Secret with a random
// token when there is none. Of two controllers creating it at once, the
// second reads the first's.
func (s *reportSecret) ensure(ctx context.Context) (token string, created bool, err error) {
	sec, err := s.secrets.Get(ctx, s.name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		sec, err = s.create(ctx)
		if err == nil {
			s.log.Info("created the report token", zap.String("secret", s.where()))
			created = true
		} else if apierrors.IsAlreadyExists(err) {
			sec, err = s.secrets.Get(ctx, s.name, metav1.GetOptions{})
		}
	}
	if err != nil {
		return "", false, fmt.Errorf("reading the report token from %s (the controller needs get and create on it, manifests/install/30-rbac-controller.yaml): %w", s.where(), err)
	}
	token, err = tokenFromSecret(sec)
	if err != nil {
		return "", false, fmt.Errorf("%s: %w", s.where(), err)
	}
	return token, created, nil
}

func (s *reportSecret) create(ctx context.Context) (*corev1.Secret, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return nil, fmt.Errorf("generating the report token: %w", err)
	}
	return s.secrets.Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{
			Name: s.name, Namespace: s.namespace,
			Labels: map[string]string{"app.kubernetes.io/name": "wake", "app.kubernetes.io/part-of": "wake"},
			Annotations: map[string]string{"wake.dev/description": "The token wake gateways send with their reports and wake-ups " +
				"to the controllers' port 8082. Created by wake controller; change it, or delete it for a new one, to rotate."},
		},
		Type: corev1.SecretTypeOpaque,
		Data: map[string][]byte{reportTokenKey: []byte(base64.RawURLEncoding.EncodeToString(b))},
	}, metav1.CreateOptions{})
}

// tokenFromSecret returns the token a Secret holds.
func tokenFromSecret(sec *corev1.Secret) (string, error) {
	b, ok := sec.Data[reportTokenKey]
	if !ok {
		return "", fmt.Errorf("no key %q: put the token there (kubectl create secret generic %s --from-literal=%s=TOKEN)",
			reportTokenKey, sec.Name, reportTokenKey)
	}
	t := strings.TrimSpace(string(b))
	if err := demand.CheckToken(t); err != nil {
		return "", fmt.Errorf("key %q: %w", reportTokenKey, err)
	}
	return t, nil
}

// follow rereads the Secret every reportSecretPoll until ctx ends, and
// makes a changed token the one tokens accept. A failure keeps the
// current token and is logged once until the Secret reads again.
func (s *reportSecret) follow(ctx context.Context, tokens *demand.Tokens) {
	t := time.NewTicker(reportSecretPoll)
	defer t.Stop()
	var failing error
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		token, created, err := s.ensure(ctx)
		if err == nil {
			var changed bool
			if changed, err = tokens.Set(token); changed {
				s.log.Info("report token rotated; the previous one is accepted for the grace",
					zap.String("secret", s.where()), zap.Bool("recreated", created), zap.Duration("grace", demand.DefaultRotationGrace))
			}
		}
		switch {
		case err != nil && ctx.Err() != nil:
			return
		case err != nil && failing == nil:
			s.log.Error("cannot read the report token; accepting the current one until it reads again", zap.Error(err))
		case err == nil && failing != nil:
			s.log.Info("report token read again", zap.String("secret", s.where()))
		}
		failing = err
	}
}
