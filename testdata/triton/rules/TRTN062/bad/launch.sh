tritonserver --model-repository=/models \
  --allow-metrics=true
