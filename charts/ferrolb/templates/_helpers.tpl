{{/* Chart name, or nameOverride. */}}
{{- define "ferrolb.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Prefix of every resource name: fullnameOverride, else <release>-<chart> (or just the
release when it already contains the chart name). */}}
{{- define "ferrolb.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- $name := include "ferrolb.name" . -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 50 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* Labels on every object. */}}
{{- define "ferrolb.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "ferrolb.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{/* Selector labels of one component; call with (dict "root" $ "component" "controller"). */}}
{{- define "ferrolb.selectorLabels" -}}
app.kubernetes.io/name: {{ include "ferrolb.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* ServiceAccount name of one component; call with (dict "root" $ "component" "controller"). */}}
{{- define "ferrolb.serviceAccountName" -}}
{{- $sa := (index .root.Values .component).serviceAccount -}}
{{- if $sa.create -}}
{{- default (printf "%s-%s" (include "ferrolb.fullname" .root) .component) $sa.name -}}
{{- else -}}
{{- required (printf "%s.serviceAccount.name is required when %s.serviceAccount.create is false" .component .component) $sa.name -}}
{{- end -}}
{{- end -}}

{{/* Image reference of one component; call with (dict "root" $ "component" "controller"). */}}
{{- define "ferrolb.image" -}}
{{- $img := (index .root.Values .component).image -}}
{{- printf "%s:%s" $img.repository (default .root.Chart.AppVersion $img.tag) -}}
{{- end -}}

{{/* Name of the Secret holding the speakers' membership key. */}}
{{- define "ferrolb.memberlistSecretName" -}}
{{- default (printf "%s-memberlist" (include "ferrolb.fullname" .)) .Values.speaker.memberlist.existingSecret -}}
{{- end -}}

{{/* Environment shared by both components. */}}
{{- define "ferrolb.commonEnv" -}}
- name: FERROLB_LOG_FORMAT
  value: {{ .Values.logFormat | quote }}
{{- with .Values.loadBalancerClass }}
- name: FERROLB_LOAD_BALANCER_CLASS
  value: {{ . | quote }}
{{- end }}
{{- end -}}

{{/* The scheme of both components' operations endpoint: HTTPS when /metrics needs a token. */}}
{{- define "ferrolb.metricsScheme" -}}
{{- if eq .Values.metrics.auth "kubernetes" }}HTTPS{{ else }}HTTP{{ end -}}
{{- end }}
