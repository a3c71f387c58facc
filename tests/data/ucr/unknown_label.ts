@problemName UnknownLabel
@univariate true
@equalLength true
@classLabel true a b
@data
1,2,3,4:a
1,2,3,4:c
