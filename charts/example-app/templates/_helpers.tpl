{{- define "example-app.labels" -}}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/part-of: example-app
helm.sh/chart: {{ .Chart.Name }}-{{ .Chart.Version }}
{{- end }}
