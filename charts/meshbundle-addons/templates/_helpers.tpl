{{/* Labels on every object of the release. */}}
{{- define "meshbundle-addons.labels" -}}
app.kubernetes.io/part-of: meshbundle
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/instance: {{ .Release.Name }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end }}

{{/* "true" when prometheus-operator objects are rendered. */}}
{{- define "meshbundle-addons.monitoring" -}}
{{- $v := toString .Values.monitoring.enabled -}}
{{- if or (eq $v "true") (and (eq $v "auto") (.Capabilities.APIVersions.Has "monitoring.coreos.com/v1")) -}}
true
{{- end -}}
{{- end }}

{{/* "true" when grafana-operator objects are rendered. */}}
{{- define "meshbundle-addons.grafanaOperator" -}}
{{- $v := toString .Values.dashboards.grafanaOperator.enabled -}}
{{- if or (eq $v "true") (and (eq $v "auto") (.Capabilities.APIVersions.Has "grafana.integreatly.org/v1beta1")) -}}
true
{{- end -}}
{{- end }}

{{/*
A generated object from files/, moved into the release namespace and
labelled like the release. Call with (list $ "files/x.yaml").
*/}}
{{- define "meshbundle-addons.generated" -}}
{{- $root := index . 0 -}}
{{- $obj := $root.Files.Get (index . 1) | fromYaml -}}
{{- $labels := merge (dict) $root.Values.monitoring.labels (include "meshbundle-addons.labels" $root | fromYaml) $obj.metadata.labels -}}
{{- $_ := set $obj "metadata" (dict "name" $obj.metadata.name "namespace" $root.Release.Namespace "labels" $labels) -}}
{{- $obj | toYaml -}}
{{- end }}

{{/* Kiali's login token signing key (see values.yaml kiali.signingKey). */}}
{{- define "meshbundle-addons.kialiSigningKey" -}}
{{- if .Values.kiali.signingKey -}}
{{- .Values.kiali.signingKey -}}
{{- else if has .Values.kiali.authStrategy (list "header" "anonymous") -}}
{{- /* Kiali wants a key even when it issues no session tokens; deterministic so upgrades are no-ops. */ -}}
{{- printf "%s/%s" .Release.Namespace .Release.Name | sha256sum | trunc 32 -}}
{{- else -}}
{{- fail (printf "kiali.signingKey: required (16, 24 or 32 characters) for kiali.authStrategy=%s" .Values.kiali.authStrategy) -}}
{{- end -}}
{{- end }}
