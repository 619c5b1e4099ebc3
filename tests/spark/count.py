"""Run by tests/spark/test_spark.py with pyspark's Python: per-function call
counts of a fleet's store, as the README lays it out. Prints JSON rows.
Usage: count.py ROOT FILE_LIKE"""
import json
import sys

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

root, like = sys.argv[1], sys.argv[2]
spark = (SparkSession.builder.master("local[1]").appName("scope-fleet")
         .config("spark.ui.enabled", "false").getOrCreate())
spark.sparkContext.setLogLevel("ERROR")
calls = spark.read.parquet(f"{root}/calls")          # partitions: recording, host, date, hour
code = spark.read.parquet(f"{root}/code").filter(F.col("kind") == "code")    # partition: recording
rows = (calls.filter(F.col("kind") == "call")
        .join(code.select("recording", "pid", "code_id", "qualname", "file", "first_line"),
              ["recording", "pid", "code_id"])
        .filter(F.col("file").like(like))
        .groupBy("qualname", "file", "first_line").count()
        .collect())
print(json.dumps([r.asDict() for r in rows]))
spark.stop()
