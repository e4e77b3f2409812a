tritonserver --model-repository=/models \
  --allow-metrics=false
