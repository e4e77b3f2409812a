tritonserver --model-repository=/models --allow-grpc=false
