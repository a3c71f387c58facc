@problemName BadNumber
@univariate true
@classLabel true a b
@data
1,2,3,4:a

1,2,x3,4:b
